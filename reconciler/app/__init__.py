"""The use cases composed (the application layer; see DESIGN.md). Today: the fleet drift check."""
