import subprocess
import sys

import recsys_tf


def test_public_api_resolves_and_import_is_light():
    for name in recsys_tf.__all__:
        assert getattr(recsys_tf, name) is not None
    out = subprocess.run([sys.executable, "-c", "import sys, recsys_tf; print('tensorflow' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
