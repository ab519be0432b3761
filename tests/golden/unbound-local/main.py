model = "global model"


def train():
    print(model)
    model = "local"


train()
