# Two NameErrors the program's own except catches (reported), and a ValueError it catches (not reported).
def build_model():
    model = "a model"


def train():
    try:
        model.fit()
    except:
        print("training skipped")


build_model()
try:
    print(model)
except NameError:
    print("no model yet")
train()
try:
    int("seven")
except Exception:
    print("not a number")
print("the program went on")
