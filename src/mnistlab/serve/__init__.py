"""A trained model at work: the predictor, ONNX files, the demo page."""
