fn main() {
    livedash::media::init();
}
