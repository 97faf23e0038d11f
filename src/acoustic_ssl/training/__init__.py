"""training concern of acoustic-ssl."""
