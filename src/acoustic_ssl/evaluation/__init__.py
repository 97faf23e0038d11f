"""evaluation concern of acoustic-ssl."""
