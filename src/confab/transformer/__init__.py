"""The transformer the retrieval and generative families share, and BERT-family weights for it."""
