"""The three jobs of one embedding: verification, recognition (a gallery), clustering."""
