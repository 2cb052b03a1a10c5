"""firmware_bridge package (see ARCHITECTURE.md); built in later issues."""
