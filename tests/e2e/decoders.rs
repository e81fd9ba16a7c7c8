//! Tiles decoded by decoders we did not write.
