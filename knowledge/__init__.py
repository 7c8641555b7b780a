"""Knowledge: ingestion, chunking, embeddings, the per-bot FAISS index and hybrid search.

Knows nothing of channels, the web or the database; callers hand it text and ids.
"""
