import os

# Keras reads the backend once, at first import; these references are JAX programs.
os.environ["KERAS_BACKEND"] = "jax"
