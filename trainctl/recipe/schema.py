"""The recipe schema: every key a recipe may have, its type, default and meaning.

One schema drives validation, the JSON Schema for editors (`trainctl schema`) and the
reference in docs/recipes.md, so the three cannot drift. Keras names and keyword
arguments are not spelled out here: they pass through to Keras unchanged and are
checked against the name list shipped in `keras_names.json`.

A *component reference* (`Ref`) names a Keras object the way a Keras user would:

    optimizer: rmsprop                                  # a Keras name or alias
    optimizer: {RMSprop: {learning_rate: 1.0e-3}}       # a Keras class and its arguments
    loss: {class: "components.losses:CustomMSE", args: {regularization_factor: 0.1}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Ref = Annotated[
    Union[str, dict[str, Any]],
    Field(
        description=(
            "A Keras name (`rmsprop`, `Dense`), a one-key mapping `{KerasClass: {arguments}}`, "
            "or `{class: 'module:Name', args: {...}}` for code from a module listed under `imports`."
        )
    ),
]
KeyMap = Union[str, list[str], dict[str, str]]
Columns = Annotated[
    dict[str, Union[str, list[str]]] | None,
    Field(description="Arrays to make: `{name: column}` or `{name: [columns stacked as features]}`. "
                      "Default: one array per column."),
]


class _Strict(BaseModel):
    # protected_namespaces: pydantic < 2.10 warns about the `model_parallel` field otherwise.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, protected_namespaces=())


# ----------------------------------------------------------------------------- data


class _SourceBase(_Strict):
    slice: Annotated[
        list[Union[int, None]] | None,
        Field(description="Python slice `[start, stop]` over samples, e.g. `[-10000, null]` for the last 10,000."),
    ] = None


class MnistSource(_SourceBase):
    """The real MNIST digits, shipped inside trainctl (no download): arrays `x` (N, 28, 28) uint8 and `y` (N,) uint8."""

    source: Literal["mnist"]
    split: Annotated[Literal["train", "test"], Field(description="60,000 training or 10,000 test images.")] = "train"


class NpzSource(_SourceBase):
    """Arrays from a NumPy `.npz` file, by key; members stored uncompressed (`np.savez`) are memory-mapped."""

    source: Literal["npz"]
    path: Annotated[str, Field(description="File path, relative to the recipe's directory.")]
    keys: Annotated[
        dict[str, str] | None,
        Field(description="Rename arrays: `{name_used_in_recipe: key_in_file}`. Default: every key as is."),
    ] = None


class CsvSource(_SourceBase):
    """Columns of a CSV file with a header row."""

    source: Literal["csv"]
    path: Annotated[str, Field(description="File path, relative to the recipe's directory.")]
    columns: Columns = None
    delimiter: Annotated[str, Field(description="The column separator, one character.")] = ","
    dtype: Annotated[str, Field(description="dtype of numeric columns.")] = "float32"
    stream: Annotated[
        bool,
        Field(description="Read the file in chunks of 100,000 rows as batches need them (pyarrow), never whole: "
                          "for files larger than memory. Shuffled and resumed like `parquet`."),
    ] = False


class _StreamedBase(_SourceBase):
    on_bad_file: Annotated[
        Literal["error", "skip"],
        Field(description="A file that cannot be read (corrupt, a column missing, an unsupported image mode): "
                          "`error` stops with exit code 2 naming it; `skip` leaves it out and counts it in the "
                          "run's manifest."),
    ] = "error"
    workers: Annotated[
        int | None,
        Field(ge=1, description="Threads decoding batches ahead of training. Default: the number of CPU cores."),
    ] = None


class ImagesSource(_StreamedBase):
    """Image files decoded batch by batch (never all in memory): a folder of class subfolders, labelled by the
    sorted subfolder names as `keras.utils.image_dataset_from_directory` does, or an index file with columns
    `file,label`. Arrays `x` (N, height, width, channels) uint8 and `y` (N,) int32. Needs `trainctl[images]`."""

    source: Literal["images"]
    path: Annotated[str, Field(description="A folder of class subfolders, or a `.csv`/`.parquet` index of "
                                           "`file,label` (files relative to it); relative to the recipe's directory.")]
    image_size: Annotated[
        list[int], Field(min_length=2, max_length=2, description="`[height, width]` every image is resized to.")
    ] = Field(default_factory=lambda: [256, 256])
    color_mode: Annotated[Literal["grayscale", "rgb", "rgba"], Field(description="1, 3 or 4 channels.")] = "rgb"
    interpolation: Annotated[
        Literal["bilinear", "nearest", "bicubic", "area", "lanczos3"],
        Field(description="Resampling filter when an image is resized (Pillow's)."),
    ] = "bilinear"
    class_names: Annotated[
        list[str] | None, Field(description="Class order (label i is the i-th name). Default: sorted folder names.")
    ] = None


class ParquetSource(_StreamedBase):
    """Columns of Parquet files, read one row group at a time (never the whole table). Needs `trainctl[parquet]`."""

    source: Literal["parquet"]
    path: Annotated[str, Field(description="A file, a directory (every `*.parquet` in it) or a glob, relative to "
                                           "the recipe's directory.")]
    columns: Columns = None
    dtype: Annotated[str, Field(description="dtype of the arrays.")] = "float32"


class NpySource(_SourceBase):
    """NumPy `.npy` files, memory-mapped: only the rows a batch needs are read from disk."""

    source: Literal["npy"]
    arrays: Annotated[dict[str, str], Field(description="`{name: file.npy}`, relative to the recipe's directory.")]


class SyntheticArray(_Strict):
    """One random array of a `synthetic` source."""

    shape: Annotated[list[int], Field(description="Per-sample shape (without the batch dimension).")]
    dtype: Annotated[str, Field(description="numpy dtype of the array.")] = "float32"
    integers: Annotated[
        int | None, Field(description="Draw integers in `[0, integers)` (class labels) instead of uniform floats.")
    ] = None


class SyntheticSource(_SourceBase):
    """Random arrays shaped like the model's inputs and outputs, from a seed (the guides' `np.random` data)."""

    source: Literal["synthetic"]
    samples: Annotated[int, Field(gt=0, description="Number of samples.")]
    arrays: Annotated[
        dict[str, SyntheticArray] | None,
        Field(description="Explicit arrays; by default one per model input and output, named like them, "
                          "uniform in [0, 1), with `null` dimensions set to 10."),
    ] = None
    seed: Annotated[int | None, Field(description="Default: the recipe seed plus the split's index.")] = None


class PythonSource(_SourceBase):
    """A function from a module listed under `imports` returning a dict of arrays, `(x, y[, sample_weight])`,
    or a `keras.utils.PyDataset`."""

    source: Literal["python"]
    function: Annotated[str, Field(description="`module:function`.")]
    args: Annotated[dict[str, Any], Field(description="Keyword arguments of the function.")] = Field(
        default_factory=dict
    )


Source = Annotated[
    Union[MnistSource, NpzSource, CsvSource, SyntheticSource, PythonSource, ImagesSource, ParquetSource, NpySource],
    Field(discriminator="source"),
]


class DataSpec(_Strict):
    """Where the arrays come from, and which array feeds which model input and output."""

    train: Annotated[Source, Field(description="Training data (`fit(x, y)`).")]
    validation: Annotated[
        Source | None, Field(description="Validation data (`fit(validation_data=...)`); or use `train.validation_split`.")
    ] = None
    test: Annotated[Source | None, Field(description="Data for `trainctl eval`.")] = None
    x: Annotated[
        KeyMap | None,
        Field(description="Array key(s) fed to the model inputs: one key, a list (positional), or "
                          "`{input_name: key}`. Default: keys named like the inputs, else `x`."),
    ] = None
    y: Annotated[
        KeyMap | None,
        Field(description="Array key(s) used as targets: one key, a list, or `{output_name: key}`. "
                          "Default: keys named like the outputs, else `y`."),
    ] = None
    sample_weight: Annotated[str | None, Field(description="Array key holding per-sample weights.")] = None
    limit: Annotated[
        int | None,
        Field(gt=0, description="Use only the first N samples of every split (smoke runs, quick experiments)."),
    ] = None
    transforms: Annotated[
        dict[str, list[dict[str, Any]]],
        Field(description="Per array key, steps applied in order to every split: `reshape: [784]`, `flatten: true`, "
                          "`cast: float32`, `divide: 255`, `multiply: 0.5`, `one_hot: 10`, `expand_dims: -1`."),
    ] = Field(default_factory=dict)


# ---------------------------------------------------------------------------- model


class InputSpec(_Strict):
    """`keras.Input(shape=..., dtype=..., name=<key>)`."""

    shape: Annotated[list[Union[int, None]], Field(description="Per-sample shape; `null` for a variable dimension.")]
    dtype: Annotated[str | None, Field(description="Keras dtype, e.g. `float32`. Default: Keras's float type.")] = None
    sparse: Annotated[bool | None, Field(description="Whether the input is a sparse tensor.")] = None
    batch_size: Annotated[int | None, Field(description="A fixed batch size, if the model needs one.")] = None


class LayerSpec(BaseModel):
    """One layer: `{KerasLayer: {arguments}}` or `{class: 'module:Name', args: {...}}`, plus `name` and `from`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    name: Annotated[str | None, Field(description="Layer name (Keras's `name=`).")] = None
    from_: Annotated[
        Union[str, list[str], dict[str, str], None],
        Field(alias="from", description="Input(s) or layer(s) this layer is called on. Default: the previous one."),
    ] = None
    class_: Annotated[str | None, Field(alias="class", description="`module:Name` of a custom layer.")] = None
    args: Annotated[dict[str, Any] | None, Field(description="Arguments of a `class:` layer.")] = None


class ModelSpec(_Strict):
    """The model: a functional graph (`inputs`/`layers`/`outputs`), a `sequential` stack, or a subclass (`class`)."""

    name: Annotated[str | None, Field(description="Model name (Keras's `name=`).")] = None
    class_: Annotated[
        str | None,
        Field(alias="class", description="`module:Name`: a subclassed model (built with `args`), or with "
                                         "`inputs`/`outputs`, the Model subclass to build the graph with "
                                         "(e.g. one with a custom `train_step`)."),
    ] = None
    args: Annotated[dict[str, Any], Field(description="Arguments of a subclassed `class:` model.")] = Field(
        default_factory=dict
    )
    inputs: Annotated[dict[str, InputSpec] | None, Field(description="Named model inputs.")] = None
    layers: Annotated[list[LayerSpec], Field(description="Layers in call order.")] = Field(default_factory=list)
    outputs: Annotated[
        Union[dict[str, LayerSpec], list[str], None],
        Field(description="Named output layers (`{name: {Dense: {...}}}`) or a list of layer names."),
    ] = None
    sequential: Annotated[list[LayerSpec] | None, Field(description="A `keras.Sequential` stack.")] = None
    input_shape: Annotated[
        list[Union[int, None]] | None,
        Field(description="Per-sample input shape of a `sequential` or subclassed model."),
    ] = None


# -------------------------------------------------------------------------- compile

LossRef = Union[Ref, None]


class CompileSpec(_Strict):
    """Arguments of `model.compile(...)`."""

    optimizer: Ref = "rmsprop"
    loss: Annotated[
        Union[Ref, list[LossRef], dict[str, LossRef], None],
        Field(description="One loss, a list (one per output), or `{output: loss}`; `null` for an output without loss."),
    ] = None
    loss_weights: Annotated[
        Union[list[float], dict[str, float], None],
        Field(description="Scale each output's loss: a list (one per output) or `{output: weight}`."),
    ] = None
    metrics: Annotated[
        Union[list[Union[Ref, list[Ref]]], dict[str, Union[Ref, list[Ref]]], None],
        Field(description="A list; a list of lists (one list per output, in output order); "
                          "or `{output: [metrics]}`."),
    ] = None
    weighted_metrics: Annotated[
        Union[list[Union[Ref, list[Ref]]], dict[str, Union[Ref, list[Ref]]], None],
        Field(description="Metrics weighted by `data.sample_weight` or `train.class_weight`; forms as `metrics`."),
    ] = None
    steps_per_execution: Annotated[
        Union[Literal["auto"], Annotated[int, Field(ge=1)]],
        Field(description="Training steps per call of the train function. `auto` (default): as many as the "
                          "checkpoint, logging and callback granularity allow, with results identical to 1; "
                          "1 when a recipe callback hooks every batch. An integer is used as given."),
    ] = "auto"
    jit_compile: Annotated[
        Union[bool, Literal["auto"]], Field(description="Compile the train step with XLA (`auto`: when possible).")
    ] = "auto"
    run_eagerly: Annotated[bool, Field(description="Run the train step eagerly, for debugging (slow).")] = False


# ---------------------------------------------------------------------------- train


class TrainSpec(_Strict):
    """Arguments of `model.fit(...)`."""

    epochs: Annotated[int, Field(ge=1, description="Number of epochs to train for.")] = 1
    batch_size: Annotated[
        int | None,
        Field(ge=1, description="Samples per training step. `null` as in Keras: 32, or the samples divided by "
                                "`steps_per_epoch` when that is given."),
    ] = None
    shuffle: Annotated[
        Union[bool, Literal["batch"]], Field(description="Shuffle the training data every epoch (seeded).")
    ] = True
    validation_split: Annotated[
        float, Field(ge=0.0, lt=1.0, description="Fraction of the training data held out for validation.")
    ] = 0.0
    validation_freq: Annotated[int, Field(ge=1, description="Validate every N epochs.")] = 1
    validation_batch_size: Annotated[
        int | None, Field(ge=1, description="Batch size for validation. Default: `batch_size`.")
    ] = None
    steps_per_epoch: Annotated[
        int | None, Field(ge=1, description="Training steps per epoch. Default: the whole training set.")
    ] = None
    validation_steps: Annotated[
        int | None, Field(ge=1, description="Validation steps. Default: the whole validation set.")
    ] = None
    class_weight: Annotated[dict[int, float] | None, Field(description="`{class_index: weight}`.")] = None
    drop_remainder: Annotated[
        bool,
        Field(description="Skip the last, smaller batch of each epoch (array data): one compiled train step "
                          "instead of two, but the samples that would have filled it are not trained on in that "
                          "epoch, so results differ from `model.fit`."),
    ] = False
    initial_epoch: Annotated[int, Field(ge=0, description="Epoch to start counting from.")] = 0
    on_nonfinite: Annotated[
        Literal["fail", "continue"],
        Field(description="When the loss becomes NaN or inf: `fail` stops the run with exit code 1; `continue` "
                          "trains on as `model.fit` does (the values are logged, checkpointed and resumed as they "
                          "are)."),
    ] = "fail"


# ------------------------------------------------------------------ run directory


class CheckpointSpec(_Strict):
    """Resumable checkpoints in `RUN_DIR/ckpt/`."""

    enabled: Annotated[bool, Field(description="Write checkpoints (a run without them cannot resume).")] = True
    every_epochs: Annotated[int, Field(ge=1, description="Save at the end of every N-th epoch.")] = 1
    every_steps: Annotated[int | None, Field(ge=1, description="Also save every N training steps.")] = None
    keep: Annotated[int, Field(ge=1, description="How many checkpoints to keep.")] = 3


class TensorBoardSpec(_Strict):
    """Event files in `RUN_DIR/events/`, written without TensorFlow."""

    update_freq: Annotated[
        Union[Literal["epoch"], Annotated[int, Field(ge=1)]],
        Field(description="Write scalars every epoch, or every N training steps."),
    ] = "epoch"
    histogram_freq: Annotated[
        int, Field(ge=0, description="Write weight histograms every N epochs (0: never).")
    ] = 0


class MlflowSpec(_Strict):
    """MLflow tracking (needs `pip install 'trainctl[mlflow]'`): params, per-epoch metrics, artifacts.

    The MLflow run id is kept in `RUN_DIR/mlflow.json`; a resumed run continues the same MLflow
    run and logs every step exactly once. A tracking server that is down never stops training.
    """

    tracking_uri: Annotated[
        str | None, Field(description="Tracking server or store, e.g. `http://host:5000`. "
                                      "Default: $MLFLOW_TRACKING_URI, else MLflow's own default.")
    ] = None
    experiment: Annotated[str | None, Field(description="Experiment name. Default: the recipe's name.")] = None
    run_name: Annotated[str | None, Field(description="Run name. Default: the run directory's name.")] = None
    tags: Annotated[dict[str, str], Field(description="Tags set on the MLflow run.")] = Field(default_factory=dict)


class LogsSpec(_Strict):
    """What the run writes besides the model and checkpoints."""

    tensorboard: Annotated[
        Union[bool, TensorBoardSpec], Field(description="TensorBoard event files: `true`, `false`, or settings.")
    ] = True
    per_batch: Annotated[bool, Field(description="Also write per-batch rows to metrics.jsonl.")] = False
    plot: Annotated[bool, Field(description="Write plots/curves.png at the end of the run.")] = True
    monitor: Annotated[
        str | None, Field(description="Metric shown as 'best so far'. Default: val_loss if validating, else loss.")
    ] = None
    mlflow: Annotated[
        MlflowSpec | None, Field(description="Also log to MLflow (metrics with step = epoch, per batch with "
                                             "`per_batch`; artifacts at the end).")
    ] = None


# --------------------------------------------------------------------- distribution


class DataParallelSpec(_Strict):
    """`keras.distribution.DataParallel`: the model replicated on every device, each batch split across them."""

    devices: Annotated[
        Union[Literal["auto"], Annotated[int, Field(ge=1)]],
        Field(description="How many devices: `auto` (all devices of all processes) or N (the first N; "
                          "multi-process runs use all)."),
    ] = "auto"


class MeshSpec(_Strict):
    """`keras.distribution.DeviceMesh`: devices arranged in a named grid."""

    shape: Annotated[
        list[Annotated[int, Field(ge=1)]],
        Field(min_length=1, description="Devices per mesh axis, e.g. `[2, 2]`; the product is the device count."),
    ]
    axis_names: Annotated[
        list[str], Field(min_length=1, description="One name per axis, e.g. `[batch, model]`.")
    ]


class ModelParallelSpec(_Strict):
    """`keras.distribution.ModelParallel`: variables sharded over a mesh by a `LayoutMap`, batches over `batch_dim`."""

    mesh: MeshSpec
    layout: Annotated[
        dict[str, list[Union[str, None]]],
        Field(description="`LayoutMap`: a regex fully matching variable paths -> one mesh axis name (or null, "
                          "not sharded) per variable dimension, e.g. `{'.*dense.*kernel': [null, model]}`. "
                          "Variables no regex matches are replicated."),
    ] = Field(default_factory=dict)
    batch_dim: Annotated[
        str | None, Field(description="Mesh axis the batch is split over. Default: the first axis.")
    ] = None


class DistributionSpec(_Strict):
    """Train on several devices and processes with `keras.distribution`; choose one strategy."""

    data_parallel: DataParallelSpec | None = None
    model_parallel: ModelParallelSpec | None = None


# ---------------------------------------------------------------------------- recipe


class Recipe(_Strict):
    """A whole training job."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Names the run directory.")]
    description: Annotated[str | None, Field(description="A line saying what the recipe trains.")] = None
    seed: Annotated[int, Field(ge=0, description="`keras.utils.set_random_seed(seed)`; derives every RNG.")] = 0
    imports: Annotated[
        list[str],
        Field(description="Modules custom code may come from, loaded from their files beside the recipe (else as "
                          "installed); nothing else there is importable."),
    ] = Field(default_factory=list)
    data: DataSpec
    model: ModelSpec
    compile: CompileSpec = Field(default_factory=CompileSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    callbacks: Annotated[list[Ref], Field(description="Keras callbacks, in order.")] = Field(default_factory=list)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    logs: LogsSpec = Field(default_factory=LogsSpec)
    distribution: Annotated[
        DistributionSpec | None,
        Field(description="Devices and processes to train on (docs/distributed.md). Default: one device."),
    ] = None
