"""The demo page: draw or upload a picture, and watch a trained model read it."""
