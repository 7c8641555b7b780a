"""Errors raised by the knowledge package."""


class KnowledgeError(Exception):
    """Base class for knowledge errors; the message is safe to show to a user."""


class UnsupportedDocument(KnowledgeError):
    """The file type has no loader."""


class CorruptDocument(KnowledgeError):
    """The file could not be read as its type claims."""


class ModelNotFound(KnowledgeError):
    """An embedding model could not be located on disk."""
