"""trainctl: declarative training for Keras 3 on JAX.

A YAML recipe in; a trained, checkpointed, resumable, logged model out.

    $ trainctl run recipes/mnist_mlp.yaml
"""

__version__ = "0.1.0"
