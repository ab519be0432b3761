print("asking")
answer = input("epochs? ")
