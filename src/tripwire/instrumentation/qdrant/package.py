_instruments = ("qdrant-client >= 1.10.0",)
