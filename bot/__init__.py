"""The conversation brain: the pipeline of stages that turns a customer message into a reply."""
