"""Intent classification: a head trained on sentence embeddings, with out-of-scope detection."""

OUT_OF_SCOPE = "oos"
