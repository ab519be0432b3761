def build_model():
    model = "a model"
    return model


build_model()
print("built")
model.fit()
