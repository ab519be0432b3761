def train():
    return modle.fit()


model = object()
train()
