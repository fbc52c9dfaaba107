"""Figures. ``style`` holds the look shared by every figure; one module per branch draws them."""
