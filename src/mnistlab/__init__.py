"""Train, compare and explain small image classifiers on MNIST, its HOG features and Fashion-MNIST."""
