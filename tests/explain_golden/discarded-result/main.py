def build_model():
    model = ['dense', 'dense']
    return model


build_model()
print(len(model))
