TINY = ["text.preset=tiny", "text.item_sequence_length=32", "text.query_sequence_length=16",
        "model.embedding_dim=16", "model.hidden_dims=[32]", "model.id_dim=8", "model.attribute_dim=4",
        "train.batch_size=64", "train.eval_k=[10]", "text.query_distill_steps=20"]


def logged_scalars(log_dir, tag) -> dict:
    """{step: value} of one scalar our TensorBoardLogger wrote under `log_dir` (all event files in it)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)}
