"""Answer generation backends behind one interface: extractive, local (transformers), openai."""
