"""service package (see ARCHITECTURE.md); built in later issues."""
