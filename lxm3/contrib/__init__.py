"""Optional extras built on the launch API (XManager's `contrib` names)."""
