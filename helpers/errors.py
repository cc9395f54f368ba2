"""Error types the notebooks raise. Each message names the problem and the fix."""


class TutorialError(Exception):
    """Base class: a problem the learner can fix, explained in the message."""


class DatasetError(TutorialError):
    """Fashion-MNIST is missing, damaged or not what it claims to be."""


class ParameterError(TutorialError, ValueError):
    """A notebook parameter has the wrong type or is out of range."""


class MissingArtifactError(TutorialError, FileNotFoundError):
    """A file another notebook should have written is not in ARTIFACTS_DIR."""


class StaleArtifactError(TutorialError):
    """Artifacts in ARTIFACTS_DIR come from different baseline models."""


class ArtifactsDirError(TutorialError):
    """ARTIFACTS_DIR cannot be created or written."""


class InvalidModelError(TutorialError):
    """A file that should be a TensorFlow Lite model is not one."""
