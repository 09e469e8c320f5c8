"""Tools (functions the model may call) and the tool loop."""
