"""Custom Python pieces of the five Keras training guides, ported to Keras 3.

Recipes reach them through `imports: [components.<module>]` (the recipe's directory is
on `sys.path`), e.g. `loss: {class: "components.losses:CustomMSE"}`. Every class is
registered under the `components` package so a saved `.keras` file reloads once the
module is imported.

Modules by topic: `losses`, `metrics`, `layers`, `models`, `callbacks`, `datasets`.
"""
