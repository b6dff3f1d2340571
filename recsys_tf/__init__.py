"""recsys_tf: BERT-in-the-tower recommendation and search for TF Serving."""
import os

# TFRS (imported for its ScaNN/BruteForce index layers) needs Keras 2 behind `tf.keras`;
# with this set, `tf.keras` is tf_keras and `import keras` stays Keras 3. Set only if the user
# did not choose, and before anything imports tensorflow. See README "Troubleshooting".
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
