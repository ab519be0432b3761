import matplotlib.pyplot as plt
from tensorflow import keras

(x_train, y_train), _ = keras.datasets.mnist.load_data()
x = x_train[:64].reshape(64, 784).astype("float32") / 255
y = y_train[:64]
model = keras.Sequential([keras.layers.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)

plt.plot(history.history["loss"])
plt.xlabel("epoch")
plt.ylabel("loss")
plt.show()
