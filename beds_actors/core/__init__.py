"""The request model, the NamasteCore CRUD interface and the factory that routes to adapters."""
