epochs_run = 0


def train_one():
    epochs_run += 1


train_one()
