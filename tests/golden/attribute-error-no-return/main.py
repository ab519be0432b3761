def setup():
    model = "a model"
    print("model ready")


model = setup()
model.fit([1, 2, 3])
