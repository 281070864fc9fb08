"""Tools the model can call: MemGPT's base tools and the registry that runs them."""
