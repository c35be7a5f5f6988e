_instruments = ("chromadb >= 0.5.0",)
