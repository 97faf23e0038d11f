"""imaging concern of acoustic-ssl."""
