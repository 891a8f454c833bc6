//! (spec, profile) → tool catalog; tool call → request plan.
