TINY = ["text.preset=tiny", "text.item_sequence_length=32", "text.query_sequence_length=16",
        "model.embedding_dim=16", "model.hidden_dims=[32]", "model.id_dim=8", "model.attribute_dim=4",
        "train.batch_size=64", "train.eval_k=[10]", "text.query_distill_steps=20"]
