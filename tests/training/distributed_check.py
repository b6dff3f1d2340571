"""Helper run in a subprocess (logical devices must be configured before TensorFlow starts):
train the same tiny model with the default strategy and with MirroredStrategy over 2 logical CPU
devices, same global batch (the split shuffled whole in memory, or streamed through the shuffle
buffer with `train.shuffle_whole_up_to=0` in the settings), and print both per-epoch losses and
validation RMSE as JSON. The weight
average is on (`train.ema_momentum`), so validation reads the averaged weights of each strategy."""
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from recsys_tf.training.config import load_config  # noqa: E402
from recsys_tf.training.run import train_run  # noqa: E402

data_dir, out_dir = sys.argv[1], sys.argv[2]
tiny = json.loads(sys.argv[3])
results = {}
for strategy in ("default", "mirrored"):
    config = load_config(None, tiny + [f"train.strategy={strategy}", "train.epochs=1", "train.max_steps_per_epoch=6",
                                       "model.dropout=0.0", "model.id_dropout=0.0", "model.user_id_dropout=0.0",
                                       "train.ema_momentum=0.5"])
    result = train_run(data_dir, os.path.join(out_dir, strategy), config, log=lambda *_: None)
    results[strategy] = {k: v for k, v in result["history"][0].items() if k.startswith("train/") or k == "rating/rmse"}
print("RESULT " + json.dumps(results))
