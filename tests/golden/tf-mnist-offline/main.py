import keras
import tensorflow as tf

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
print(x_train.shape, x_train.dtype, y_train.shape, y_train.dtype)
print(x_test.shape, x_test.dtype, y_test.shape, y_test.dtype)
(a, _), _ = tf.keras.datasets.mnist.load_data()
print("same through tf.keras:", bool((a == x_train).all()))
