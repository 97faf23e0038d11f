"""simulate concern of acoustic-ssl."""
