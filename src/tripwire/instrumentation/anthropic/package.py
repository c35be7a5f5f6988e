_instruments = ("anthropic >= 0.30.0",)
