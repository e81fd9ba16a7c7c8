//! Styles validated by the MapLibre style spec's own validator.
