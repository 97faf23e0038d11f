"""data concern of acoustic-ssl."""
