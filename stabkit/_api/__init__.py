"""The public conventions shared by the three tiers: the caller's array
types in and out (:mod:`.arrays`), ``axis`` as int, tuple or None
(:mod:`.axes`), the ``where=`` mask (:mod:`.masks`), and the wrappers that
give each tier's cores their public signatures (:mod:`.wrap`)."""
