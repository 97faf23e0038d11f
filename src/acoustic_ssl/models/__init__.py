"""models concern of acoustic-ssl."""
