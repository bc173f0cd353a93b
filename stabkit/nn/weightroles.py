"""Keras's views of a layer's or a model's weights by role:
``trainable_weights`` and ``non_trainable_weights`` of a layer, and Keras 3's
``variables``, ``trainable_variables`` and ``non_trainable_variables`` (the
same lists under the names Keras 3 prefers) on layers and models alike.

Every list holds live arrays, as ``weights`` does: writing into one changes
the model (Keras's lists hold variables whose values these arrays are).
"""

from __future__ import annotations

import numpy as np

__all__ = ["WeightRoles"]


class WeightRoles:
    """Mixed into ``Layer`` and ``Sequential`` (whose ``Structure`` gives its
    own ``trainable_weights`` and ``non_trainable_weights``, frozen model
    included)."""

    def _by_role(self, trained: bool) -> list[np.ndarray]:
        # a layer's fixed_names (BatchNormalization's moving statistics) are
        # never trained; a frozen layer trains none
        return [w for n, w in zip(self.weight_names, self.weights)
                if (self.trainable and n not in self.fixed_names) == trained]  # fmt: skip

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights ``fit`` updates, in the order of ``weights``; ``[]``
        while unbuilt or frozen."""
        return self._by_role(True)

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weights ``fit`` leaves alone (all of a frozen layer's; a
        BatchNormalization's moving statistics), in the order of ``weights``."""
        return self._by_role(False)

    @property
    def variables(self) -> list[np.ndarray]:
        """Keras 3's name for ``weights``."""
        return self.weights

    @property
    def trainable_variables(self) -> list[np.ndarray]:
        """Keras 3's name for ``trainable_weights``."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[np.ndarray]:
        """Keras 3's name for ``non_trainable_weights``."""
        return self.non_trainable_weights
